// Markup for components: htm's tagged templates over Preact (no build step, no JSX), and the
// hooks the pages use, from the vendored copies in ../vendor/.
import { h, render } from "../vendor/preact.js";
import htm from "../vendor/htm.js";

export { render };
export {
  useCallback,
  useEffect,
  useMemo,
  useRef,
  useState,
} from "../vendor/hooks.js";
export const html = htm.bind(h);
