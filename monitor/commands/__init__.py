"""The command line (``run``, ``demo``, ``simulate``, ``check``, ``dlq``): what a person types."""
