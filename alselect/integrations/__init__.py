"""Helpers for training frameworks (imported only on use): :mod:`alselect.integrations.lightning`."""
