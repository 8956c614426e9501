"""The dashboard's pages: one module per page, each returning an HTML string."""
