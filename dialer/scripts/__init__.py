"""Call scripts: what agents read and the IVR says, as checked YAML documents (docs/scripts.md).

Other domains import dialer.scripts.service: load a script, build a call's context, render.
"""
