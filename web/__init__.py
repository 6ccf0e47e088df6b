"""Templates, static CSS/JS and translation catalogues served by Rapport (no CDN, no build step)."""
