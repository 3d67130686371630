"""Integration tests: real tritonserver, Prometheus and vLLM processes."""

import signal


def ctrl_c_as_in_a_terminal() -> None:
    """preexec_fn for a command a test interrupts with SIGINT. A suite started in the background of a
    non-interactive shell (`make test &`) has SIGINT ignored, every child inherits that, and Python then sets no
    KeyboardInterrupt handler: the command would never see the test's Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
