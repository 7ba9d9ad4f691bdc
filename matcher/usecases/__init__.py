"""Use cases that cross the rooms: what a person's action does end to end, for every adapter (HTTP routes, web
pages, the command line) to call the same way."""
