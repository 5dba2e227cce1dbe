// The trivial proxy Worker of the A/B benchmark: every request goes to ORIGIN_URL, the
// same path and query, the request passed as it came. The floor of the free route.
export default {
  fetch(request, env) {
    const url = new URL(request.url);
    return fetch(env.ORIGIN_URL + url.pathname + url.search, request);
  },
};
