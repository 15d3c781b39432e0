// An empty ES module (startup benchmark).
export {};
