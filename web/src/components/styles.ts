export type Variant = "primary" | "secondary" | "danger" | "ghost";

const VARIANTS: Record<Variant, string> = {
  primary:
    "bg-indigo-600 text-white shadow-sm hover:bg-indigo-500 disabled:bg-indigo-300 border border-transparent",
  secondary:
    "bg-white text-slate-700 shadow-sm border border-slate-300 hover:bg-slate-50 disabled:text-slate-400",
  danger:
    "bg-red-600 text-white shadow-sm hover:bg-red-500 disabled:bg-red-300 border border-transparent",
  ghost: "text-slate-600 hover:bg-slate-100 hover:text-slate-900 border border-transparent",
};

export function buttonClass(variant: Variant = "secondary", extra = ""): string {
  return `inline-flex items-center justify-center gap-2 rounded-md px-3.5 py-2 text-sm font-medium transition-colors disabled:cursor-not-allowed ${VARIANTS[variant]} ${extra}`;
}

export const inputClass =
  "block w-full rounded-md border border-slate-300 bg-white px-3 py-2 text-sm shadow-sm placeholder:text-slate-400 focus:border-indigo-500 focus:ring-2 focus:ring-indigo-200 focus:outline-none aria-[invalid=true]:border-red-500 aria-[invalid=true]:ring-red-100";

/** Badge colours of an HTTP status: 2xx green, 3xx blue, 4xx amber, 5xx red. */
export function httpStatusClass(status: number): string {
  if (status < 300) return "bg-emerald-50 text-emerald-800 ring-emerald-200";
  if (status < 400) return "bg-sky-50 text-sky-800 ring-sky-200";
  if (status < 500) return "bg-amber-50 text-amber-800 ring-amber-200";
  return "bg-red-50 text-red-800 ring-red-200";
}
