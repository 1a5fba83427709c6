"""Tenant roles, named permissions and user groups: who may do what in the organisation (issue 15, part 1)."""
