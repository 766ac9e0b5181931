"""Online public services: catalogue, once-only forms, dossiers, BPMN workflows and the back office."""
