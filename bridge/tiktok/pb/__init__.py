"""Code generated from proto/ by scripts/genproto. Do not edit."""
