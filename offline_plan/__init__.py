"""Offline plan: run the real program under Pulumi's mock runtime and show what a stack declares.

Needs no cloud credentials and no Pulumi CLI, so it works on any laptop and in fork pull requests.
This package deliberately imports nothing from the program (core/, components/): with --against it
plans another git ref's program in a subprocess, which must see its own modules, not ours.
"""
