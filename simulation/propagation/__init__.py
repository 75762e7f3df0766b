"""Consequence propagation: from initiating events to affected assets over time, a timeline and actions.

Modules: :mod:`~simulation.propagation.collect` (affected assets with causes, reasons and times),
:mod:`~simulation.propagation.water` (pipe bursts and pump failures, topological and with EPANET over time),
:mod:`~simulation.propagation.power` (power cuts), :mod:`~simulation.propagation.plume` (pollution plumes),
:mod:`~simulation.propagation.actions` (recommended actions, crews to send, people to warn),
:mod:`~simulation.propagation.timeline`, :mod:`~simulation.propagation.context` (database loaders),
:mod:`~simulation.propagation.report` (the report) and :mod:`~simulation.propagation.engine`
(:func:`consequence_report`). ``simulation.consequences`` re-exports the public names.
"""
