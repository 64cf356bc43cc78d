"""Reports people look at: a waterfall of what arrived (HTML and PNG) and a run summary."""
