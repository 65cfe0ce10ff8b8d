"""Mitogen's linear strategy, from the mitogen package of the Ansible venv.

ansible.cfg names strategy plugins by directory; Mitogen's live inside its
package, whose path differs per venv (.venv here, /opt/ansible-venv on
bridge). This file makes `strategy = mitogen_linear` work from any of
them. Mitogen keeps one Python interpreter per host for a whole playbook
instead of starting one per task (see ansible.cfg for the figures).
"""

from ansible_mitogen.plugins.strategy.mitogen_linear import StrategyModule

__all__ = ["StrategyModule"]
