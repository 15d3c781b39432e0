'use strict';
// Startup benchmark: a script that loads express and pg (the modules the agents
// patch) and exits.
require('express');
require('pg');
