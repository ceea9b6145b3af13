"""Side-by-side benchmark of ponder against its_hub and optillm on one OpenAI-compatible server.

``run.py`` is the entry point; ``proxy`` counts tokens for every system alike, ``servers``
starts and stops the model server and optillm's proxy, ``systems`` drives each system, and
``report`` turns the measurements into JSON and a Markdown table. See README.md.
"""
