"""Training: tasks (loss + metrics), the trainer loop, seeding and run folders."""
