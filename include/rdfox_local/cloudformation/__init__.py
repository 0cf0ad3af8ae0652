"""deploy/cloudformation/: reading the templates, the IAM policy files made from them, local deployment."""
