package org.fluorecon.tasks.fuse;

import ij.ImagePlus;
import org.fluorecon.ij.FluoreconCommand;
import org.fluorecon.ij.Menu;
import org.fluorecon.ij.Params;

/**
 * Plugins › fluorecon › Multiview fusion…  Multiview Richardson–Lucy (Preibisch et al. 2014) on the
 * model server: the views are the channels of the current z-stack, on one grid; each view's PSF is
 * theoretical, along its detection axis. Output: the fused stack ({@code <title>-fused}). Macro:
 * {@code run("Multiview fusion...", "num_iter=20 na=0.8 wavelength_nm=520 ni=1.33 view_axes=z,x
 * sheet_fwhm_nm=0 background=0 align save=/path/out.tif")}.
 */
@Menu(label = "Multiview fusion...")
public class FuseViews_ extends FluoreconCommand {
    static final String TITLE = "fluorecon Multiview fusion";

    public FuseViews_() {
        super(TITLE, "Multiview fusion");
    }

    @Override
    protected void execute(ImagePlus imp) {
        FuseServerJob.Settings s = new FuseServerJob.Settings();
        Params params = new Params(TITLE, "num_iter=20 na=0.8 wavelength_nm=520 ni=1.33 view_axes=z,x");
        params.integer("num_iter", s.iterations, v -> s.iterations = v);
        params.decimal("na", s.na, 3, v -> s.na = v);
        params.decimal("wavelength_nm", s.wavelengthNm, 0, v -> s.wavelengthNm = v);
        params.decimal("ni", s.ni, 3, v -> s.ni = v);
        params.text("view_axes", s.viewAxes, v -> s.viewAxes = v);
        params.decimal("sheet_fwhm_nm", s.sheetFwhmNm, 0, v -> s.sheetFwhmNm = v);
        params.decimal("background", s.background, 0, v -> s.background = v);
        params.checkbox("align", s.align, v -> s.align = v);
        if (!params.show()) {
            return;
        }
        String save = params.option("save", null);

        FuseServerJob job = new FuseServerJob(imp, s, server());
        if (runJob(job, "sending the views to the server")) {
            done(keep(job.getResult(), save), params);
        }
    }
}
