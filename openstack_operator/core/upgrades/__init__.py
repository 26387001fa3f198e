"""Changes of OpenStack release: the rule a change must follow and the ordered rollout."""
