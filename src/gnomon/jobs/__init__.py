"""Jobs gnomon itself ships."""
