"""Sessions with an assistant: the questions a user asked and the answers they got."""
