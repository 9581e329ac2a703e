"""nbgrader's configuration of the staner-lab course (docs/teaching.md). Run the nbgrader commands in
this folder (or copy it, with source/, to the course's folder)."""

c = get_config()  # noqa: F821 - nbgrader provides it

c.CourseDirectory.course_id = "staner-lab"
# Every assignment is one notebook: NN_name/NN_name.ipynb.
c.CourseDirectory.source_directory = "source"
# Student code runs in its own kernel process; a cell that runs longer than this is stopped and the
# notebook's remaining cells are graded as they stand (the training cells of 06 take about a minute in
# fast mode, STANER_FAST=1).
c.ExecutePreprocessor.timeout = 300
c.ExecutePreprocessor.interrupt_on_timeout = True
# Each student's kernel sees only that student's folder: the rest of the course folder (the other
# submissions, the gradebook) is hidden from it, and so are other processes (Linux namespaces, no root;
# staner_lab/teaching/sandbox.py). Where that is not possible, grading stops with a message: remove this
# line only to grade trusted submissions unconfined.
c.ExecutePreprocessor.kernel_manager_class = "staner_lab.teaching.sandbox.SandboxedKernelManager"
# The stub nbgrader writes where a solution was (the cell keeps its def line and docstring).
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
