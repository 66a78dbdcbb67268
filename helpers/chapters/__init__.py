"""The chapters: one module per notebook, holding the experiments and figures that only that notebook
needs (``from helpers.chapters import ch04_finite_time as ch``). A chapter imports the engine
(``helpers``) only, never another chapter: code that two notebooks need belongs to the engine."""
