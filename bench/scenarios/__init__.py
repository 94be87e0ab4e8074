"""One module per scenario of issue 6; each says why it measures what it does."""
