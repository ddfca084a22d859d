// Runs the proof-of-work search off the main thread, reporting progress.
import { solve } from './pow-core.js';

self.onmessage = async (e) => {
  const number = await solve(e.data, (fraction) => self.postMessage({ progress: fraction }));
  self.postMessage({ done: true, number });
};
