"""tap-google-forms: Google Forms responses and form definitions as Singer streams."""
