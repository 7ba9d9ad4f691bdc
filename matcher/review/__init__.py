"""The secretariat's review: suggested matches, decisions on them, and decisions exported as a gold set."""
