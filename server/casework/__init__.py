"""Casework: clients, contacts, appointments, approvals, the policy in force and its versions."""
