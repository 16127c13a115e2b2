"""Plotting for the reports (matplotlib, the optional ``[plot]`` extra); the engine never imports it."""
