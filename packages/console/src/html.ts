/** htm bound to Preact: templates without a JSX build step; text is always set as text, never parsed as markup. */
import htm from "htm";
import { h } from "preact";

export const html = htm.bind(h);
