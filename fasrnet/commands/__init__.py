"""The ``fasrnet`` subcommands, one module each: its arguments (``register``), its handler (``run``) and, for a
command that writes pipeline outputs, which ones (``outputs``, what ``fasrnet.cli`` locks). ``common`` holds what
several share. A stage's code is its command module's import closure (docs/workflow.md, "What reruns a stage").
"""
