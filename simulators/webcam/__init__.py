"""A synthetic wildlife webcam: forest/wetland scene, weather, IR night and animals with truth."""
