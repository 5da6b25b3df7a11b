"""The whole thing as a user meets it: the local stack's processes, the browser console, the packaged and deployed app."""
