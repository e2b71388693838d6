"""Pure logic of the platform: configuration model, naming, rendering. No Pulumi resources here."""
