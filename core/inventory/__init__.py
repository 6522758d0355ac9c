"""The inventory database: models and the code that opens and migrates it."""
