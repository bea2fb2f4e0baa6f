import pytest

# The rows are compared in tests.plan.world: a failing row should show both lists.
pytest.register_assert_rewrite("tests.plan.world")
