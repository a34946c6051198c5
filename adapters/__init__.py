"""BackCoach package."""
