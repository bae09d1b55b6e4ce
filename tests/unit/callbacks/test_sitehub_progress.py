"""The operator progress view's failure lines (sitehub.callbacks.sitehub_progress)."""

import pytest

pytest.importorskip("ansible")

from sitehub.callbacks.sitehub_progress import failure_message


def test_loop_failure_names_each_failed_item_and_its_own_message():
    res = {
        "msg": "One or more items failed",
        "results": [
            {"item": {"src": "a"}, "_ansible_item_label": "setup.sh", "changed": True},
            {
                "_ansible_item_label": "demo_stack.py",
                "failed": True,
                "msg": "Destination directory /opt/x does not exist",
            },
        ],
    }
    assert failure_message(res) == (
        "item demo_stack.py: Destination directory /opt/x does not exist"
    )


def test_plain_failure_uses_msg_then_stderr():
    assert failure_message({"msg": "boom"}) == "boom"
    assert failure_message({"stderr": "no such file", "rc": 1}) == "no such file"
