'use strict';
// An empty CommonJS script (startup benchmark).
