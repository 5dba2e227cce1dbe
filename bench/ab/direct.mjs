// The trivial direct Worker of the A/B benchmark: answers at once, no subrequest. The floor
// of a Worker answering by itself (the 402 challenge row).
export default {
  fetch() {
    return new Response('{"ok":true}', { headers: { "content-type": "application/json" } });
  },
};
