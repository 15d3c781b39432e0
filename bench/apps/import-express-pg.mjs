// Startup benchmark: an ES module that imports express and pg (the modules the agents
// patch) and exits.
import 'express';
import 'pg';
