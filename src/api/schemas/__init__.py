"""The API's response models: what each route answers, with OpenAPI examples."""
