"""The HTML report of a lake's runs: one data model, two loaders (a lake directory, a deployed stack), one renderer."""
