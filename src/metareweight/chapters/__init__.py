"""The analyses of the book's chapters, one module per chapter.

A notebook narrates and calls: the tables, records and verdicts it shows are assembled here,
where they are tested, from the runs of the layers below.  Nothing outside this package imports
it (``tests/test_layers.py``).
"""
