"""HTTP emulators of the chat platforms' APIs, served locally inside the tests."""
