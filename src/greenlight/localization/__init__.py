"""Localization: glossaries, translation memory and dubbing for a title's dialogue.

Each module is one part of the work: ``glossary`` (a production's terms and how
they must come out in each language), ``memory`` (approved translations reused).
"""
